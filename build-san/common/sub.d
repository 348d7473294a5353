build-san/common/sub.o: common/sub.c common/kwarden.h common/proto.h
common/kwarden.h:
common/proto.h:
