build-san/common/util.o: common/util.c common/kwarden.h common/proto.h
common/kwarden.h:
common/proto.h:
