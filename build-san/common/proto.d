build-san/common/proto.o: common/proto.c common/kwarden.h common/proto.h
common/kwarden.h:
common/proto.h:
