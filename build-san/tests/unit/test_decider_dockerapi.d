build-san/tests/unit/test_decider_dockerapi.o: \
 tests/unit/test_decider_dockerapi.c tests/unit/../../decider/decider.h \
 common/kwarden.h common/proto.h
tests/unit/../../decider/decider.h:
common/kwarden.h:
common/proto.h:
