;; spins: loops forever without calling the host; only an interruption (an epoch trap) stops it.
(module
  (memory (export "memory") 1)
  (func (export "_start")
    (loop $forever (br $forever))))
