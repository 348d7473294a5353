build-san/tests/unit/test_reader_kmod.o: tests/unit/test_reader_kmod.c \
 tests/unit/../../reader/reader.h common/kwarden.h common/proto.h
tests/unit/../../reader/reader.h:
common/kwarden.h:
common/proto.h:
