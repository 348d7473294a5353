build-san/tests/unit/test_replay_fixture.o: \
 tests/unit/test_replay_fixture.c common/kwarden.h common/proto.h \
 tests/unit/../../run/replay.h
common/kwarden.h:
common/proto.h:
tests/unit/../../run/replay.h:
