build-san/reader/procfs.o: reader/procfs.c reader/reader.h \
 common/kwarden.h common/proto.h
reader/reader.h:
common/kwarden.h:
common/proto.h:
