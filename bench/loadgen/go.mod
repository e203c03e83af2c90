module dripbridge/bench/loadgen

go 1.26
