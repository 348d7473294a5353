build-san/decider/acts.o: decider/acts.c decider/decider.h \
 common/kwarden.h common/proto.h
decider/decider.h:
common/kwarden.h:
common/proto.h:
