// The OVF 1.0 descriptor of an OVA: one streamOptimized VMDK on a SCSI controller, one NIC on one
// network, a small default VM (the importer sizes it). RASD/VSSD elements are in the schema's
// (alphabetical) order, which strict readers such as ovftool check.

export interface OvfDisk {
  /** The VMDK's member name in the OVA. */
  file: string;
  /** Its size in bytes. */
  fileSize: number;
  /** Virtual disk size in bytes (the raw disk's). */
  capacity: number;
  /** Bytes actually used (the raw disk's allocated blocks). */
  populatedSize: number;
}

export interface OvfOptions {
  /** The virtual machine's name. */
  name: string;
  disk: OvfDisk;
  /** DISTRO_NAME of the image, for the guest OS type ('' when unknown). */
  distro: string;
  is64Bit: boolean;
  cpus?: number;
  memoryMiB?: number;
}

export const OVF_DEFAULT_CPUS = 2;
export const OVF_DEFAULT_MEMORY_MIB = 2048;
export const STREAM_OPTIMIZED = 'http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized';

/** DMTF CIM_OperatingSystem.OSType values: [32-bit, 64-bit]. */
const CIM_OS_TYPES: Record<string, [number, number]> = {
  ubuntu: [93, 94],
  debian: [95, 96],
};
const CIM_LINUX: [number, number] = [36, 101]; // "LINUX", "Linux 64-Bit"

export function renderOvf(o: OvfOptions): string {
  const cpus = o.cpus ?? OVF_DEFAULT_CPUS;
  const memory = o.memoryMiB ?? OVF_DEFAULT_MEMORY_MIB;
  const [os32, os64] = CIM_OS_TYPES[o.distro] ?? CIM_LINUX;
  const name = xml(o.name);
  const item = (fields: Array<[string, string | number]>) =>
    ['      <Item>', ...fields.map(([k, v]) => `        <rasd:${k}>${xml(String(v))}</rasd:${k}>`), '      </Item>'].join('\n');
  return `<?xml version="1.0" encoding="UTF-8"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData" xmlns:vssd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <References>
    <File ovf:id="file1" ovf:href="${xml(o.disk.file)}" ovf:size="${o.disk.fileSize}"/>
  </References>
  <DiskSection>
    <Info>Virtual disk information</Info>
    <Disk ovf:diskId="vmdisk1" ovf:fileRef="file1" ovf:capacity="${o.disk.capacity}" ovf:capacityAllocationUnits="byte" ovf:populatedSize="${o.disk.populatedSize}" ovf:format="${STREAM_OPTIMIZED}"/>
  </DiskSection>
  <NetworkSection>
    <Info>The logical networks</Info>
    <Network ovf:name="VM Network">
      <Description>The network the VM's interface is connected to</Description>
    </Network>
  </NetworkSection>
  <VirtualSystem ovf:id="${name}">
    <Info>A virtual machine</Info>
    <Name>${name}</Name>
    <OperatingSystemSection ovf:id="${o.is64Bit ? os64 : os32}">
      <Info>The guest operating system</Info>
    </OperatingSystemSection>
    <VirtualHardwareSection>
      <Info>Virtual hardware requirements</Info>
      <System>
        <vssd:ElementName>Virtual Hardware Family</vssd:ElementName>
        <vssd:InstanceID>0</vssd:InstanceID>
        <vssd:VirtualSystemIdentifier>${name}</vssd:VirtualSystemIdentifier>
        <vssd:VirtualSystemType>vmx-13</vssd:VirtualSystemType>
      </System>
${item([
  ['AllocationUnits', 'hertz * 10^6'],
  ['Description', 'Number of virtual CPUs'],
  ['ElementName', `${cpus} virtual CPU(s)`],
  ['InstanceID', 1],
  ['ResourceType', 3],
  ['VirtualQuantity', cpus],
])}
${item([
  ['AllocationUnits', 'byte * 2^20'],
  ['Description', 'Memory size'],
  ['ElementName', `${memory} MB of memory`],
  ['InstanceID', 2],
  ['ResourceType', 4],
  ['VirtualQuantity', memory],
])}
${item([
  ['Address', 0],
  ['Description', 'SCSI controller'],
  ['ElementName', 'SCSI controller 0'],
  ['InstanceID', 3],
  ['ResourceSubType', 'lsilogic'],
  ['ResourceType', 6],
])}
${item([
  ['AddressOnParent', 0],
  ['ElementName', 'Hard disk 1'],
  ['HostResource', 'ovf:/disk/vmdisk1'],
  ['InstanceID', 4],
  ['Parent', 3],
  ['ResourceType', 17],
])}
${item([
  ['AddressOnParent', 7],
  ['AutomaticAllocation', 'true'],
  ['Connection', 'VM Network'],
  ['ElementName', 'Network adapter 1'],
  ['InstanceID', 5],
  ['ResourceSubType', 'E1000'],
  ['ResourceType', 10],
])}
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
`;
}

function xml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}
