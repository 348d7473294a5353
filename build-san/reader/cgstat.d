build-san/reader/cgstat.o: reader/cgstat.c reader/reader.h \
 common/kwarden.h common/proto.h
reader/reader.h:
common/kwarden.h:
common/proto.h:
