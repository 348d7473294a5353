build-san/tests/unit/test_decider_hooks.o: \
 tests/unit/test_decider_hooks.c tests/unit/../../decider/decider.h \
 common/kwarden.h common/proto.h
tests/unit/../../decider/decider.h:
common/kwarden.h:
common/proto.h:
