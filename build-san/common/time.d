build-san/common/time.o: common/time.c common/kwarden.h common/proto.h
common/kwarden.h:
common/proto.h:
