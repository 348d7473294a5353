build-san/common/schema.o: common/schema.c common/proto.h
common/proto.h:
