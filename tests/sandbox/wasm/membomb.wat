;; membomb: grows its memory by 1 MiB at a time until the host refuses, then aborts (as malloc
;; failure would): a failure with the memory standing at the cap.
(module
  (memory (export "memory") 1)
  (func (export "_start")
    (loop $more
      (br_if $more (i32.ne (memory.grow (i32.const 16)) (i32.const -1))))
    unreachable))
