build-san/reader/kmod.o: reader/kmod.c reader/reader.h common/kwarden.h \
 common/proto.h
reader/reader.h:
common/kwarden.h:
common/proto.h:
