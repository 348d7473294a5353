build-san/tests/unit/test_common_time.o: tests/unit/test_common_time.c \
 common/kwarden.h common/proto.h
common/kwarden.h:
common/proto.h:
