build-san/decider/dockerjson.o: decider/dockerjson.c decider/decider.h \
 common/kwarden.h common/proto.h
decider/decider.h:
common/kwarden.h:
common/proto.h:
