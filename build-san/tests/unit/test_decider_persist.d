build-san/tests/unit/test_decider_persist.o: \
 tests/unit/test_decider_persist.c tests/unit/../../decider/decider.h \
 common/kwarden.h common/proto.h
tests/unit/../../decider/decider.h:
common/kwarden.h:
common/proto.h:
