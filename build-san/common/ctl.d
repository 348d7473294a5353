build-san/common/ctl.o: common/ctl.c common/kwarden.h common/proto.h
common/kwarden.h:
common/proto.h:
