build-san/tests/unit/test_decider_conf.o: tests/unit/test_decider_conf.c \
 tests/unit/../../decider/decider.h common/kwarden.h common/proto.h
tests/unit/../../decider/decider.h:
common/kwarden.h:
common/proto.h:
