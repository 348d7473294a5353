build-san/tests/unit/test_decider_containers.o: \
 tests/unit/test_decider_containers.c tests/unit/../../decider/decider.h \
 common/kwarden.h common/proto.h
tests/unit/../../decider/decider.h:
common/kwarden.h:
common/proto.h:
