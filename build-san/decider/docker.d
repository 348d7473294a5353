build-san/decider/docker.o: decider/docker.c common/kwarden.h \
 common/proto.h decider/decider.h decider/curluv.h
common/kwarden.h:
common/proto.h:
decider/decider.h:
decider/curluv.h:
