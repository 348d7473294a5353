build-san/tests/unit/test_decider_rates.o: \
 tests/unit/test_decider_rates.c tests/unit/../../decider/decider.h \
 common/kwarden.h common/proto.h
tests/unit/../../decider/decider.h:
common/kwarden.h:
common/proto.h:
