build-san/decider/views.o: decider/views.c decider/decider.h \
 common/kwarden.h common/proto.h
decider/decider.h:
common/kwarden.h:
common/proto.h:
