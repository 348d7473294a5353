build-san/tests/unit/test_recorder_schema.o: \
 tests/unit/test_recorder_schema.c tests/unit/../../recorder/recorder.h \
 common/kwarden.h common/proto.h
tests/unit/../../recorder/recorder.h:
common/kwarden.h:
common/proto.h:
