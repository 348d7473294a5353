build-san/tests/unit/test_decider_policy.o: \
 tests/unit/test_decider_policy.c tests/unit/../../decider/decider.h \
 common/kwarden.h common/proto.h
tests/unit/../../decider/decider.h:
common/kwarden.h:
common/proto.h:
