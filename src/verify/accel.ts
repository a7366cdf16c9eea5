// Choose qemu's accelerator: KVM only where it can work (the device exists and the CPU has VMX/SVM).
// Some sandboxes expose /dev/kvm without hardware virtualisation; guests there hang at "Loading Linux".
import { existsSync, readFileSync } from 'node:fs';

export function qemuAccelArgs(override = process.env.IMAGE_VERIFY_ACCEL): string[] {
  const choice = override || (kvmUsable() ? 'kvm' : 'tcg');
  return choice === 'kvm' ? ['-accel', 'kvm', '-cpu', 'host'] : ['-accel', 'tcg'];
}

export function kvmUsable(): boolean {
  if (!existsSync('/dev/kvm')) return false;
  try {
    return /\b(vmx|svm)\b/.test(readFileSync('/proc/cpuinfo', 'utf8'));
  } catch {
    return false;
  }
}
