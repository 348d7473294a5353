build-san/decider/hooks.o: decider/hooks.c decider/decider.h \
 common/kwarden.h common/proto.h decider/curluv.h
decider/decider.h:
common/kwarden.h:
common/proto.h:
decider/curluv.h:
