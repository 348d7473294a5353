build-san/tests/unit/test_decider_engine.o: \
 tests/unit/test_decider_engine.c tests/unit/../../decider/decider.h \
 common/kwarden.h common/proto.h
tests/unit/../../decider/decider.h:
common/kwarden.h:
common/proto.h:
