// A busy Java program for JFR recordings, run by the tests in source-file mode under
// OpenJDK's own Flight Recorder (`-XX:StartFlightRecording`, settings in burn.jfc):
// two threads burning CPU, one allocating, two contending for a monitor, one parking,
// and a sampler emitting async-profiler's `profiler.WallClockSample` events with a
// `contextId` (what pyroscope-java's labels refer to), as custom JFR events.
//   java -XX:StartFlightRecording:filename=out.jfr,settings=burn.jfc Burn.java <seconds>
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.locks.LockSupport;
import jdk.jfr.Event;
import jdk.jfr.Label;
import jdk.jfr.Name;
import jdk.jfr.StackTrace;

public class Burn {
    @Name("profiler.WallClockSample")
    @Label("Wall clock sample")
    @StackTrace(true)
    static class WallClockSample extends Event {
        @Label("Context ID")
        long contextId;
        @Label("Samples")
        int samples;
    }

    static volatile long sink;
    static final Object MONITOR = new Object();

    public static void main(String[] args) throws Exception {
        long seconds = args.length > 0 ? Long.parseLong(args[0]) : 3;
        long until = System.nanoTime() + seconds * 1_000_000_000L;
        List<Thread> threads = new ArrayList<>();
        for (String name : new String[] {"burner-a", "burner-b"}) {
            threads.add(start(name, () -> {
                while (System.nanoTime() < until) {
                    sink += spin(100_000);
                }
            }));
        }
        threads.add(start("allocator", () -> {
            List<byte[]> keep = new ArrayList<>();
            while (System.nanoTime() < until) {
                keep.add(new byte[(int) (sink & 0xfff) + 64]);
                keep.add(new byte[4 << 20]);
                if (keep.size() > 64) keep.clear();
                LockSupport.parkNanos(1_000_000);
            }
        }));
        for (String name : new String[] {"locker-a", "locker-b"}) {
            threads.add(start(name, () -> {
                while (System.nanoTime() < until) {
                    synchronized (MONITOR) {
                        sink += spin(200_000);
                    }
                }
            }));
        }
        threads.add(start("sampler", () -> {
            long i = 0;
            while (System.nanoTime() < until) {
                WallClockSample s = new WallClockSample();
                s.contextId = 1 + (i++ % 2);
                s.samples = 1;
                s.commit();
                LockSupport.parkNanos(10_000_000);
            }
        }));
        for (Thread t : threads) t.join();
        System.out.println("{\"threads\":" + threads.size() + "}");
    }

    static long spin(int n) {
        long x = 0;
        for (int i = 0; i < n; i++) x += (long) Math.sqrt(i) ^ i;
        return x;
    }

    static Thread start(String name, Runnable r) {
        Thread t = new Thread(r, name);
        t.start();
        return t;
    }
}
