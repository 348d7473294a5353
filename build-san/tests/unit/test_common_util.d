build-san/tests/unit/test_common_util.o: tests/unit/test_common_util.c \
 common/kwarden.h common/proto.h
common/kwarden.h:
common/proto.h:
