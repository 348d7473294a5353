build-san/common/pub.o: common/pub.c common/kwarden.h common/proto.h
common/kwarden.h:
common/proto.h:
