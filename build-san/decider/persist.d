build-san/decider/persist.o: decider/persist.c decider/decider.h \
 common/kwarden.h common/proto.h
decider/decider.h:
common/kwarden.h:
common/proto.h:
