build-san/decider/curluv.o: decider/curluv.c common/kwarden.h \
 common/proto.h decider/curluv.h
common/kwarden.h:
common/proto.h:
decider/curluv.h:
