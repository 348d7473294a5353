build-san/tests/unit/test_decider_evidence.o: \
 tests/unit/test_decider_evidence.c tests/unit/../../decider/decider.h \
 common/kwarden.h common/proto.h
tests/unit/../../decider/decider.h:
common/kwarden.h:
common/proto.h:
