build-san/decider/rates.o: decider/rates.c decider/decider.h \
 common/kwarden.h common/proto.h
decider/decider.h:
common/kwarden.h:
common/proto.h:
