build-san/recorder/db.o: recorder/db.c recorder/recorder.h \
 common/kwarden.h common/proto.h
recorder/recorder.h:
common/kwarden.h:
common/proto.h:
