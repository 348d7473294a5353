build-san/tests/unit/test_common_config.o: \
 tests/unit/test_common_config.c common/kwarden.h common/proto.h
common/kwarden.h:
common/proto.h:
