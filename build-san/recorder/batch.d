build-san/recorder/batch.o: recorder/batch.c recorder/recorder.h \
 common/kwarden.h common/proto.h
recorder/recorder.h:
common/kwarden.h:
common/proto.h:
