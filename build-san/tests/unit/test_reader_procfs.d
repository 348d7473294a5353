build-san/tests/unit/test_reader_procfs.o: \
 tests/unit/test_reader_procfs.c tests/unit/../../reader/reader.h \
 common/kwarden.h common/proto.h
tests/unit/../../reader/reader.h:
common/kwarden.h:
common/proto.h:
