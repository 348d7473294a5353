build-san/tests/unit/test_decider_docker.o: \
 tests/unit/test_decider_docker.c tests/unit/../../decider/decider.h \
 common/kwarden.h common/proto.h
tests/unit/../../decider/decider.h:
common/kwarden.h:
common/proto.h:
