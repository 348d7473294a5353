build-san/tests/unit/test_common_daemon.o: \
 tests/unit/test_common_daemon.c common/kwarden.h common/proto.h
common/kwarden.h:
common/proto.h:
