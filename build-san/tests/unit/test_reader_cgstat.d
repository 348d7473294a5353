build-san/tests/unit/test_reader_cgstat.o: \
 tests/unit/test_reader_cgstat.c tests/unit/../../reader/reader.h \
 common/kwarden.h common/proto.h
tests/unit/../../reader/reader.h:
common/kwarden.h:
common/proto.h:
