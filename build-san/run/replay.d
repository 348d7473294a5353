build-san/run/replay.o: run/replay.c run/../decider/decider.h \
 common/kwarden.h common/proto.h run/replay.h
run/../decider/decider.h:
common/kwarden.h:
common/proto.h:
run/replay.h:
