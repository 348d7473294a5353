build-san/common/flow.o: common/flow.c common/kwarden.h common/proto.h
common/kwarden.h:
common/proto.h:
