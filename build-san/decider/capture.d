build-san/decider/capture.o: decider/capture.c decider/decider.h \
 common/kwarden.h common/proto.h
decider/decider.h:
common/kwarden.h:
common/proto.h:
