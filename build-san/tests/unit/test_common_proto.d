build-san/tests/unit/test_common_proto.o: tests/unit/test_common_proto.c \
 common/kwarden.h common/proto.h
common/kwarden.h:
common/proto.h:
