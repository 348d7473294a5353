build-san/common/log.o: common/log.c common/kwarden.h common/proto.h
common/kwarden.h:
common/proto.h:
