build-san/tests/unit/test_recorder_db.o: tests/unit/test_recorder_db.c \
 tests/unit/../../recorder/recorder.h common/kwarden.h common/proto.h
tests/unit/../../recorder/recorder.h:
common/kwarden.h:
common/proto.h:
