build-san/tests/unit/test_decider_acts.o: tests/unit/test_decider_acts.c \
 tests/unit/../../decider/decider.h common/kwarden.h common/proto.h
tests/unit/../../decider/decider.h:
common/kwarden.h:
common/proto.h:
