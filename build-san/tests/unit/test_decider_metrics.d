build-san/tests/unit/test_decider_metrics.o: \
 tests/unit/test_decider_metrics.c tests/unit/../../decider/decider.h \
 common/kwarden.h common/proto.h
tests/unit/../../decider/decider.h:
common/kwarden.h:
common/proto.h:
