build-san/tests/unit/test_common_pubsub.o: \
 tests/unit/test_common_pubsub.c common/kwarden.h common/proto.h
common/kwarden.h:
common/proto.h:
